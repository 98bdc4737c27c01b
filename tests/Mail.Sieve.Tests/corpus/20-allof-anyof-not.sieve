require "fileinto";
if allof (header :contains "from" "bob", not header :contains "subject" "spam") { fileinto "A"; }
if anyof (false, header :is "x-nothing" "x") { fileinto "B"; } elsif true { fileinto "C"; } else { fileinto "D"; }
