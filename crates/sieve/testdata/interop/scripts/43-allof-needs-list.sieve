require "fileinto";

if allof true {
    fileinto "x";
}
