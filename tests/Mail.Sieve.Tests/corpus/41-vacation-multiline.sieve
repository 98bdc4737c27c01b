require ["vacation", "variables"];
if header :matches "subject" "*" { set "s" "${1}"; }
vacation :days 14 :subject "Re: ${s}" text:
I am away.
..dotted line kept
.
;
