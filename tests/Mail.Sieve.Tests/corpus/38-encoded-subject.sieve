require "fileinto";
# msg: spam.eml
if header :contains "subject" "€1000" { fileinto "decoded-subject"; }
