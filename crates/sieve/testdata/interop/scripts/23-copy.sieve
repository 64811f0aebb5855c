require ["fileinto", "copy"];
fileinto :copy "Archive";
if header :contains "subject" "money" {
    discard;
}
