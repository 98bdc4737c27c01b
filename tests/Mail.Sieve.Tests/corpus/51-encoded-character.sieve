require ["encoded-character", "fileinto"];
if header :contains "subject" "${hex:48 65 6c 6C 6f}" { fileinto "hex-${unicode:263a}"; }
if header :contains "subject" "${hex:zz}" { fileinto "never"; }
fileinto "${hex: 41 }${unicode:42 43}";
