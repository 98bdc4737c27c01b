require ["date", "fileinto", "relational"];
# msg: list.eml
if date :zone "+0000" "date" "day" "05" { fileinto "utc-next-day"; }
if date :value "lt" :originalzone "date" "day" "05" { fileinto "orig-before"; }
if date :zone "+0100" "date" "zone" "+0100" { fileinto "zone"; }
