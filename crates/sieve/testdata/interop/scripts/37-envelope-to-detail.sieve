require ["envelope", "fileinto"];
if envelope :all :is "to" "me+tag@example.org" {
    fileinto "Tagged";
}
if envelope :all :matches "from" "*@*" {
    fileinto "HasSender";
}
