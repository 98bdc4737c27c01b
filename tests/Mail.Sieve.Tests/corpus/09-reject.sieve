require "reject";
if header :is "x-priority" "3" { reject "I do not take normal priority mail"; }
