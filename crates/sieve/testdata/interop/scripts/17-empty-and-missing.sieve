require "fileinto";
if header :is "x-empty" "" {
    fileinto "EmptyField";
}
if header :matches "x-missing" "*" {
    fileinto "NeverMissing";
}
if not header :contains "x-missing" "" {
    fileinto "Missing";
}
