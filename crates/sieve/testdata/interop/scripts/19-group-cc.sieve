require "fileinto";
if address :domain :is "cc" "example.net" {
    fileinto "GroupMember";
}
