require "fileinto";
if address :localpart :is "to" "quoted local" {
    fileinto "Local";
}
if address :all :is "to" "\"quoted local\"@example.org" {
    fileinto "Requoted";
}
