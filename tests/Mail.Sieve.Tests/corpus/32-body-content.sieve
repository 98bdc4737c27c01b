require ["body", "fileinto"];
# msg: multipart.eml
if body :content "text/plain" :contains "café" { fileinto "decoded"; }
if body :content "text/html" :contains "agenda" { fileinto "html"; }
if body :text :contains "budget" { fileinto "text"; }
