require ["fileinto", "subaddress", "envelope"];
# to: alice+work@example.org
if envelope :detail "to" "work" { fileinto "Work"; }
if envelope :user "to" "alice" { keep; }
