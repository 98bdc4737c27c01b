require "fileinto";
if header :contains ["subject", "from"] ["nomatch", "Sender"] { fileinto "any-of-list"; }
