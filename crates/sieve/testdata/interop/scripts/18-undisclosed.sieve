require "fileinto";
# A value without any address is compared whole by :all and not at all by :domain.
if address :all :is "to" "undisclosed-recipients:;" {
    fileinto "Undisclosed";
}
if address :domain :matches "to" "*" {
    fileinto "HasDomain";
}
