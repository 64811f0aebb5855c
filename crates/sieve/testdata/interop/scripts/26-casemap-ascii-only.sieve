require "fileinto";
if header :contains "x-unicode" "GRÜSSE" {
    fileinto "Folded";
}
if header :contains "x-unicode" "grüße" {
    fileinto "AsciiFolded";
}
