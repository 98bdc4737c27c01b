require "imap4flags";
addflag "\\Seen";
addflag ["\\Flagged", "$Work"];
removeflag "\\Seen";
