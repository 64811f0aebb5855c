require "fileinto";
if address :domain :is ["from", "sender"] "lists.example.com" {
    fileinto "Lists/Dev";
}
