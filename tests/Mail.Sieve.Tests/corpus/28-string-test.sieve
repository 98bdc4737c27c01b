require ["variables", "fileinto"];
set "who" "bob";
if string :is "${who}" "bob" { fileinto "is-bob"; }
if string :matches "${who}" "b*" { fileinto "starts-${1}"; }
