require "fileinto";
if size :over 10K {
    fileinto "Big";
} elsif size :under 300 {
    fileinto "Tiny";
}
