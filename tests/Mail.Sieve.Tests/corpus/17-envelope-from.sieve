require ["envelope", "fileinto"];
# from: bob@example.net
if envelope :domain :is "from" "example.net" { fileinto "from-net"; }
if envelope :all :is "to" "alice+work@example.org" { fileinto "to-full"; }
