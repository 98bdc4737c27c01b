require "fileinto";
if header :is "Subject" "HELLO WORLD REPORT" { fileinto "Match"; } else { fileinto "NoMatch"; }
