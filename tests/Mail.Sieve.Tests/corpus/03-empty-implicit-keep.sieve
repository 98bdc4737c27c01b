# nothing: the implicit keep stores into INBOX
