require ["fileinto", "subaddress", "variables"];
if address :detail :matches "to" "*" { fileinto "detail-${1}"; }
if address :user "to" "carol" { fileinto "carol"; }
