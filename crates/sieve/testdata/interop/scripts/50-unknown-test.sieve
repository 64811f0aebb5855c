require "fileinto";
if body :contains "offer" {
    fileinto "Body";
}
