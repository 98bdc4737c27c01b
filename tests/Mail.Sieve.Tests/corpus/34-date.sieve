require ["date", "fileinto", "variables"];
if date :originalzone "date" "hour" "10" { fileinto "orig-hour"; }
if date :zone "+0000" "date" "time" "09:30:45" { fileinto "utc-time"; }
if date :is :originalzone "date" "weekday" "6" { fileinto "saturday"; }
if date :matches :originalzone "date" "date" "*-*-*" { fileinto "y${1}m${2}d${3}"; }
