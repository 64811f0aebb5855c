require "fileinto";
if address :all :is "reply-to" "<>" {
    fileinto "NullReplyTo";
}
if address :all :is "bcc" "" {
    fileinto "EmptyBcc";
}
# Only a comment: an empty list, so not even "*" matches.
if address :all :matches "bcc" "*" {
    fileinto "AnyBcc";
}
