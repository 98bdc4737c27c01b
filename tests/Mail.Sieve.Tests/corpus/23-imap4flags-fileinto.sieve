require ["imap4flags", "fileinto"];
setflag "\\Seen";
fileinto "Read";
fileinto :flags ["\\Answered", "\\Draft"] "Other";
