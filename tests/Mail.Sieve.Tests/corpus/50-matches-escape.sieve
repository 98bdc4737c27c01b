require ["fileinto", "variables"];
set "q" "a*b?c";
if string :matches "${q}" "a\\*b\\?c" { fileinto "escaped"; }
if string :matches "${q}" "a?b*" { fileinto "wild-${1}-${2}"; }
