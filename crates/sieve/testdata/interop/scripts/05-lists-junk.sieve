require ["fileinto", "mailbox"];
if exists "List-Id" {
    fileinto :create "Lists";
} elsif header :is "x-spam-flag" "YES" {
    fileinto "Junk";
} else {
    keep;
}
