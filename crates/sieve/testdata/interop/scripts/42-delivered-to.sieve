require "fileinto";
if address :all :is "delivered-to" "ME@example.org" {
    fileinto "Delivered";
}
