require ["fileinto", "variables"];
if header :matches "subject" "Hello * report" { fileinto "Folder-${1}"; }
