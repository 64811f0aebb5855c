require "fileinto";
fileinto "First";
if header :contains "subject" "lunch" {
    stop;
}
fileinto "Second";
