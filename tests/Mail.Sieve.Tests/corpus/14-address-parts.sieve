require ["fileinto", "variables"];
if address :localpart "from" "bob" { fileinto "local"; }
if address :domain "to" "example.com" { fileinto "domain"; }
if address :all :is "cc" "team@lists.example.org" { fileinto "all"; }
