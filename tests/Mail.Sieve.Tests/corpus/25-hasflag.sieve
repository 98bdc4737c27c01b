require ["imap4flags", "fileinto"];
addflag "\\Flagged";
if hasflag :is "\\flagged" { fileinto "flagged"; }
if hasflag :contains "Seen" { fileinto "seen"; }
