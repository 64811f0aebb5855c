require "fileinto";
if address :all :comparator "i;octet" "from" "BOB@Lists.Example.COM" {
    fileinto "Exact";
}
if address :all :comparator "i;octet" "from" "bob@lists.example.com" {
    fileinto "Folded";
}
