require "imap4flags";
keep :flags "\\Flagged important";
