require ["body", "fileinto"];
if body :contains "quarterly" { fileinto "body-hit"; }
if body :contains "nothing-like-this" { fileinto "body-miss"; }
