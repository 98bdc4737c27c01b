/* a bracketed
   comment */ require "fileinto"; # and a hash one
if header :contains "subject" "wor\ld" { fileinto "Back\\slash\"quote"; }
