require ["body", "fileinto"];
# msg: multipart.eml
if body :raw :contains "caf=C3=A9" { fileinto "raw"; }
if body :raw :contains "application/octet-stream" { fileinto "raw-headers"; }
