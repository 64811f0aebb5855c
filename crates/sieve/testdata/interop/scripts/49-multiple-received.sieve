require "fileinto";
if header :contains "received" "from two" {
    fileinto "SecondReceived";
}
if header :matches "received" "from mx.*" {
    fileinto "MxReceived";
}
