require ["fileinto", "imap4flags"];
keep :flags "\\Answered";
fileinto "INBOX";
fileinto "Box";
fileinto "Box";
