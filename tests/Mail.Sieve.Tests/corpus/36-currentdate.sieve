require ["date", "relational", "fileinto"];
if currentdate :value "ge" "year" "2020" { fileinto "now"; }
if currentdate :value "lt" "year" "2000" { fileinto "past"; }
