require "fileinto";
# msg: spam.eml
if header :contains "X-Spam-Status" "Yes" { fileinto "Junk"; stop; }
keep;
