require ["fileinto", "mailbox"];
if mailboxexists "INBOX" {
    fileinto "InboxExists";
}
if mailboxexists ["INBOX", "Existing"] {
    fileinto "BothExist";
}
if mailboxexists ["Existing", "No/Such/Folder"] {
    fileinto "Impossible";
}
