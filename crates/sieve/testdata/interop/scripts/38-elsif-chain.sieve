require "fileinto";
if header :is "x-spam-flag" "yes" {
    fileinto "Junk";
} elsif exists "list-id" {
    fileinto "Lists";
} elsif size :over 300 {
    fileinto "Medium";
} else {
    fileinto "Small";
}
