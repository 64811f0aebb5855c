require ["envelope", "fileinto"];
if envelope :domain :is "from" "bulk.example" {
    discard;
} elsif envelope :localpart :matches "to" "me*" {
    fileinto "ToMe";
}
