require ["fileinto", "variables"];
if header :matches "subject" "*o*" { fileinto "${1}|${2}"; }
if header :matches "from" "?ob*" { fileinto "q-${1}-${2}"; }
