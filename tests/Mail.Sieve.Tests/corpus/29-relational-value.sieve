require ["relational", "comparator-i;ascii-numeric", "fileinto"];
if header :value "ge" :comparator "i;ascii-numeric" "x-priority" "3" { fileinto "ge3"; }
if header :value "lt" :comparator "i;ascii-numeric" "x-count" "10" { fileinto "some-lt10"; }
