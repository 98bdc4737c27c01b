require ["imap4flags", "variables", "fileinto"];
setflag "mine" "\\Seen";
addflag "mine" "\\Answered";
if hasflag :contains "mine" "Answered" { fileinto :flags "${mine}" "ByVariable"; }
