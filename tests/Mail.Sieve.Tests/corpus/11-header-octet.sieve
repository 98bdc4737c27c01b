require "fileinto";
if header :is :comparator "i;octet" "subject" "HELLO WORLD REPORT" { fileinto "Match"; } else { fileinto "NoMatch"; }
