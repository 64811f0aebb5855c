require "fileinto";
if address :all :is "from" "real@example.org" {
    fileinto "Real";
}
if address :localpart :is "from" "bad" {
    fileinto "Bad";
}
